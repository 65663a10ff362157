"""The client API (tdx.v1.LedgerService) served by a node over grpc.aio.

Submissions go through ``admission.Admission`` (checks off the event loop, rate limits,
counted refusal logs) before they are ordered. Every method is wrapped by
``errors.guarded``: a bad request field is answered INVALID_ARGUMENT naming the field,
a missing thing NOT_FOUND, and errors carry google.rpc details: ErrorInfo (reason code),
BadRequest (the field), RetryInfo where retrying helps and, for a replay, the original
Receipt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import grpc
from tdx.node.api import errors as check
from tdx.node.api.admission import Admission, AdmissionLimits
from tdx.node.api.errors import (
    MAX_TEXT,
    Answer,
    BadRequest,
    Context,
    guarded,
    guarded_stream,
    shown,
)
from tdx.node.api.metrics import NodeMetrics
from tdx.node.api.sequencer import Sequencer
from tdx.node.replication.forward import FORWARDED_BY
from tdx.node.replication.ordering import OrderingStatus
from tdx.node.state.ledger import Ledger
from tdx.node.state.reads import Index
from tdx.node.state.rules import Refusal
from tdx.node.state.workflows import reads
from tdx.sdk import (
    block_hash,
    certification,
    document_id,
    envelope_leaf,
    genesis_hash,
    inclusion_path,
    ledger_pb2,
    result_leaf,
)
from tdx.v1 import documents_pb2, ledger_pb2_grpc

MAX_QUERY = 1000
DEFAULT_QUERY = 100
MAX_KINDS = 64
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


class LedgerServicer(ledger_pb2_grpc.LedgerServiceServicer):
    """Serves LedgerService from a Ledger, ordering submissions through a Sequencer.

    ``role`` says where the node stands in ordering (``NodeOrderer.status``: the Raft
    driver's or the follower's) for ``Status``. ``limits`` bound admission
    (``admission.AdmissionLimits``; the defaults when None). Call ``close`` when the node
    stops.
    """

    def __init__(self, ledger: Ledger, sequencer: Sequencer, member_id: str,
                 role: Callable[[], OrderingStatus],
                 limits: AdmissionLimits | None = None) -> None:
        self.ledger = ledger
        self.sequencer = sequencer
        self.member_id = member_id
        self.feed = BlockFeed()
        self._role = role
        self.metrics = NodeMetrics()
        self.admission = Admission(ledger, sequencer, limits, self.metrics)

    def close(self) -> None:
        """Stop admission's checking threads."""
        self.admission.close()

    # -- submission ----------------------------------------------------------------------

    async def admit_relayed(self, envelopes: list[documents_pb2.Envelope],
                            sender: bytes) -> None:
        """Order documents a member's node relayed over the mesh. Refusals are counted and
        logged by admission (the relaying node checked them already and waits for their
        block); ``sender`` is the relaying member's key, whose budget they spend."""
        # A whole batch refused was logged by admission with its count.
        with contextlib.suppress(Refusal):
            await self.admission.admit(envelopes, f"mesh:{sender.hex()}")

    @guarded
    async def Submit(self, request: ledger_pb2.SubmitRequest,
                     context: Context) -> ledger_pb2.SubmitResponse:
        [outcome] = await self.admission.admit([request.envelope], context.peer())
        if isinstance(outcome, Refusal):
            raise outcome
        return ledger_pb2.SubmitResponse(receipt=outcome)

    @guarded
    async def SubmitBatch(self, request: ledger_pb2.SubmitBatchRequest,
                          context: Context) -> ledger_pb2.SubmitBatchResponse:
        self.admission.check_size(len(request.envelopes))
        if self._forwarded_by_validator(context) and self._role().role != "leader":
            # A validator forwards only to the leader it knows; if that is not this node
            # (any more), say so at once rather than forward again (see forward.py).
            refusal = ledger_pb2.SubmitOutcome(
                error_code="UNAVAILABLE",
                error_message="this node is not the leader (any more); retry")
            return ledger_pb2.SubmitBatchResponse(
                outcomes=[refusal for _ in request.envelopes])
        outcomes = await self.admission.admit(request.envelopes, context.peer())
        return ledger_pb2.SubmitBatchResponse(outcomes=[
            ledger_pb2.SubmitOutcome(error_code=o.status, error_message=o.message,
                                     receipt=o.receipt)
            if isinstance(o, Refusal) else ledger_pb2.SubmitOutcome(receipt=o)
            for o in outcomes])

    def _forwarded_by_validator(self, context: Context) -> bool:
        for key, value in context.invocation_metadata() or ():
            if key == FORWARDED_BY:
                member = self.ledger.member(str(value))
                return member is not None and member.validator
        return False

    # -- reads ---------------------------------------------------------------------------

    def _record(self, doc_id: str) -> ledger_pb2.DocumentRecord:
        record = self.ledger.record(check.document_id(doc_id))
        if record is None:
            raise Answer(grpc.StatusCode.NOT_FOUND, f"no document {doc_id}",
                         reason="document.not_found")
        return record

    @guarded
    async def Get(self, request: ledger_pb2.GetRequest,
                  context: Context) -> ledger_pb2.GetResponse:
        return ledger_pb2.GetResponse(record=self._record(request.document_id))

    @guarded
    async def Query(self, request: ledger_pb2.QueryRequest,
                    context: Context) -> ledger_pb2.QueryResponse:
        if request.limit > MAX_QUERY:
            raise BadRequest("limit", f"is at most {MAX_QUERY}, not {request.limit}")
        for name in ("ucr", "kind", "issuer"):
            check.text(getattr(request, name), name, required=False)
        if request.ucr:
            index, value = Index.UCR, request.ucr
        elif request.kind:
            index, value = Index.KIND, request.kind
        elif request.issuer:
            index, value = Index.ISSUER, request.issuer
        else:
            raise BadRequest("ucr", "give a ucr, a kind or an issuer")
        after = None
        if request.page_token:
            try:
                if len(request.page_token) > 2 * MAX_TEXT:
                    raise ValueError("too long")
                after = bytes.fromhex(request.page_token)
            except ValueError:
                raise BadRequest("page_token", "is not one this node gave") from None
        limit = request.limit or DEFAULT_QUERY
        records: list[ledger_pb2.DocumentRecord] = []
        last = b""
        more = False
        for cursor, doc_id in self.ledger.documents_by(index, value, after=after):
            if len(records) >= limit:
                more = True
                break
            last = cursor
            record = self.ledger.record(doc_id)
            if record is None:
                continue
            if request.kind and record.kind != request.kind:
                continue
            if request.issuer and _body(record).issuer != request.issuer:
                continue
            records.append(record)
        token = last.hex() if more else ""
        return ledger_pb2.QueryResponse(records=records, next_page_token=token)

    @guarded_stream
    async def Subscribe(self, request: ledger_pb2.SubscribeRequest,
                        context: Context) -> AsyncIterator[ledger_pb2.SubscribeResponse]:
        check.height(request.from_height, "from_height", allow_zero=True)
        check.text(request.ucr, "ucr", required=False)
        if len(request.kinds) > MAX_KINDS:
            raise BadRequest("kinds", f"at most {MAX_KINDS} kinds, not {len(request.kinds)}")
        for kind in request.kinds:
            check.text(kind, "kinds")
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

    @guarded
    async def GetProof(self, request: ledger_pb2.GetProofRequest,
                       context: Context) -> ledger_pb2.GetProofResponse:
        record = self._record(request.document_id)
        block = self.ledger.block(record.receipt.height)
        if block is None:
            raise Answer(grpc.StatusCode.INTERNAL,
                         f"block {record.receipt.height} is missing from this node's store")
        validators = self.ledger.validators
        signed = certification(block_hash(block.header), block.signatures, validators)
        if not signed.certified:
            raise Answer(grpc.StatusCode.UNAVAILABLE,
                         f"block {record.receipt.height} is not certified yet ({signed.signed} "
                         f"of {signed.needed} signatures); retry shortly",
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

    @guarded
    async def GetBlock(self, request: ledger_pb2.GetBlockRequest,
                       context: Context) -> ledger_pb2.GetBlockResponse:
        block = self.ledger.block(check.height(request.height))
        if block is None:
            raise Answer(grpc.StatusCode.NOT_FOUND,
                         f"no block at height {request.height}; the ledger is at "
                         f"{self.ledger.height}", reason="block.not_found")
        return ledger_pb2.GetBlockResponse(block=block)

    @guarded
    async def Status(self, request: ledger_pb2.StatusRequest,
                     context: Context) -> ledger_pb2.StatusResponse:
        role = self._role()
        return ledger_pb2.StatusResponse(
            network=self.ledger.network,
            member_id=self.member_id,
            role=role.role,
            term=role.term,
            leader=role.leader,
            height=self.ledger.height,
            last_block_hash=self.ledger.last_hash,
            commit_index=role.commit_index,
            peers=role.peers,
            mesh_peers=role.mesh_peers,
            documents=self.ledger.documents,
            version=VERSION,
            genesis_hash=genesis_hash(self.ledger.genesis),
            pending=self.sequencer.pending,
            diverged_height=role.diverged_height,
        )

    # -- workflow state (node/workflows/reads.py) ----------------------------------------

    @guarded
    async def GetCertificate(self, request: ledger_pb2.GetCertificateRequest,
                             context: Context) -> ledger_pb2.GetCertificateResponse:
        answer = reads.certificate(self.ledger,
                                   check.text(request.certificate_id, "certificate_id"))
        if answer is None:
            raise Answer(grpc.StatusCode.NOT_FOUND,
                         f"no certificate {shown(request.certificate_id)}",
                         reason="certificate.not_found")
        return answer

    @guarded
    async def GetAeoStatus(self, request: ledger_pb2.GetAeoStatusRequest,
                           context: Context) -> ledger_pb2.GetAeoStatusResponse:
        answer = reads.aeo_status(self.ledger, check.text(request.operator_id, "operator_id"))
        if answer is None:
            raise Answer(grpc.StatusCode.NOT_FOUND,
                         f"no AEO status for operator {shown(request.operator_id)}",
                         reason="aeo.not_found")
        return answer

    @guarded
    async def GetConsignment(self, request: ledger_pb2.GetConsignmentRequest,
                             context: Context) -> ledger_pb2.GetConsignmentResponse:
        answer = reads.consignment(self.ledger, check.text(request.ucr, "ucr"))
        if answer is None:
            raise Answer(grpc.StatusCode.NOT_FOUND,
                         f"nothing on the ledger for consignment {shown(request.ucr)}",
                         reason="consignment.not_found")
        return answer

    # -- membership and governance -------------------------------------------------------

    @guarded
    async def GetMember(self, request: ledger_pb2.GetMemberRequest,
                        context: Context) -> ledger_pb2.GetMemberResponse:
        member_id = check.text(request.member_id, "member_id")
        member = self.ledger.member(member_id)
        retired = reads.retired_keys(self.ledger, member_id)
        if member is None and not retired:
            raise Answer(grpc.StatusCode.NOT_FOUND, f"no member {shown(member_id)}",
                         reason="member.not_found")
        return ledger_pb2.GetMemberResponse(member=member, retired_keys=retired)

    @guarded
    async def ListMembers(self, request: ledger_pb2.ListMembersRequest,
                          context: Context) -> ledger_pb2.ListMembersResponse:
        return ledger_pb2.ListMembersResponse(members=self.ledger.members,
                                              height=self.ledger.height)

    @guarded
    async def GetProposal(self, request: ledger_pb2.GetProposalRequest,
                          context: Context) -> ledger_pb2.GetProposalResponse:
        proposal_id = check.document_id(request.proposal_id, "proposal_id")
        answer = reads.proposal(self.ledger, proposal_id)
        if answer is None:
            raise Answer(grpc.StatusCode.NOT_FOUND, f"no proposal {proposal_id}",
                         reason="proposal.not_found")
        return answer


def _body(record: ledger_pb2.DocumentRecord) -> documents_pb2.DocumentBody:
    return documents_pb2.DocumentBody.FromString(record.envelope.body)

"""Reads of the workflows' state for the client API: certificates, AEO status, consignments,
members' retired keys and governance proposals.

These read committed state through the ledger's read side (``LedgerReads.state`` and
``documents_by``; never a block's batch, never a store key of their own) and never write.
Each returns None when there is nothing to show, and the servicer answers NOT_FOUND.
"""

from __future__ import annotations

from tdx.node.state.ledger import Ledger
from tdx.node.state.reads import Index
from tdx.node.state.workflows import governance
from tdx.node.state.workflows.aeo import aeo_key
from tdx.node.state.workflows.certificates import (
    CERTIFICATE_KINDS,
    certificate_key,
    declaration_key,
    expired,
)
from tdx.node.state.workflows.shipments import shipment_key
from tdx.v1 import governance_state_pb2, ledger_pb2, state_pb2

# A consignment's story reads at most this many of its documents.
MAX_CONSIGNMENT_DOCUMENTS = 1000


def _certificate(ledger: Ledger, certificate_id: str) -> state_pb2.CertificateState | None:
    raw = ledger.state.get(certificate_key(certificate_id))
    return None if raw is None else state_pb2.CertificateState.FromString(raw)


def last_block_ms(ledger: Ledger) -> int:
    """The time of the ledger's last block (0 before the first)."""
    block = ledger.block(ledger.height)
    return ledger_pb2.BlockHeader.FromString(block.header).proposed_ms if block else 0


def certificate(ledger: Ledger, certificate_id: str) -> ledger_pb2.GetCertificateResponse | None:
    """A certificate's state, whether it has expired by the last block, and its newest
    version."""
    state = _certificate(ledger, certificate_id)
    if state is None:
        return None
    current = state
    for _ in range(1000):
        if not current.superseded_by:
            break
        newer = _certificate(ledger, current.superseded_by)
        if newer is None:
            break
        current = newer
    now_ms = last_block_ms(ledger)
    return ledger_pb2.GetCertificateResponse(certificate=state, expired=expired(state, now_ms),
                                             current_id=current.certificate_id, as_of_ms=now_ms)


def aeo_status(ledger: Ledger, operator_id: str) -> ledger_pb2.GetAeoStatusResponse | None:
    """An operator's AEO status and history."""
    raw = ledger.state.get(aeo_key(operator_id))
    if raw is None:
        return None
    return ledger_pb2.GetAeoStatusResponse(status=state_pb2.AeoState.FromString(raw))


def consignment(ledger: Ledger, ucr: str) -> ledger_pb2.GetConsignmentResponse | None:
    """The shipment state, declarations and certificates of one UCR, oldest first."""
    answer = ledger_pb2.GetConsignmentResponse(ucr=ucr)
    found = False
    raw = ledger.state.get(shipment_key(ucr))
    if raw is not None:
        answer.shipment.CopyFrom(state_pb2.ShipmentState.FromString(raw))
        found = True
    for count, (_, doc_id) in enumerate(ledger.documents_by(Index.UCR, ucr)):
        if count >= MAX_CONSIGNMENT_DOCUMENTS:
            break
        found = True
        declaration = ledger.state.get(declaration_key(doc_id))
        if declaration is not None:
            answer.declarations.append(state_pb2.DeclarationState.FromString(declaration))
            continue
        cert = ledger.state.get(certificate_key(doc_id))
        if cert is not None:
            state = state_pb2.CertificateState.FromString(cert)
            if state.kind in CERTIFICATE_KINDS:
                answer.certificates.append(state)
    return answer if found else None


def retired_keys(ledger: Ledger, member_id: str) -> list[governance_state_pb2.RetiredKey]:
    """The keys ``member_id`` held before, oldest first."""
    return governance.retired_keys(ledger.state.scan(governance.key_history_prefix(member_id)))


def proposal(ledger: Ledger, proposal_id: str) -> ledger_pb2.GetProposalResponse | None:
    """A governance proposal, its status as of the last block, and how many customs members
    decide it now."""
    state = governance.load_proposal(ledger.state, proposal_id)
    if state is None:
        return None
    state.status = governance.status_at(state, last_block_ms(ledger))  # type: ignore[assignment]
    customs = len(governance.customs_ids({m.id: m for m in ledger.members}))
    return ledger_pb2.GetProposalResponse(proposal=state, customs_members=customs)
